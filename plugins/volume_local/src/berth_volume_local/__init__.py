"""berth volume driver: local (named volumes on the host)"""
