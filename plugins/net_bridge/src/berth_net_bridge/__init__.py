"""berth network driver: Linux bridge, veth, IPAM, NAT, ports, DNS"""
