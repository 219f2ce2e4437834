"""berth storage driver: btrfs (subvolumes and snapshots)"""
