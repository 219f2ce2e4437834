"""berth storage driver: vfs (plain copies)"""
