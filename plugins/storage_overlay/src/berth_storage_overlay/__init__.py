"""berth storage driver: overlayfs"""
