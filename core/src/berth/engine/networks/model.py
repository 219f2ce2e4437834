"""Network records: what ``docker network inspect`` shows, and each container's endpoint."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

#: The networks every daemon has (Docker's predefined ones); they cannot be removed.
PREDEFINED = ("bridge", "host", "none")


@dataclass
class EndpointRecord:
    """One container attached to one network."""

    endpoint_id: str
    container_id: str
    name: str  # the container's name, without "/"
    address: str  # CIDR
    mac_address: str
    aliases: list[str] = field(default_factory=list)
    static_address: bool = False
    ifname: str = "eth0"
    dns_servers: list[str] = field(default_factory=list)
    ports: list[dict[str, Any]] = field(default_factory=list)  # PortMapping fields

    def to_json(self) -> dict[str, Any]:
        return {
            "EndpointID": self.endpoint_id,
            "ContainerID": self.container_id,
            "Name": self.name,
            "IPv4Address": self.address,
            "MacAddress": self.mac_address,
            "Aliases": list(self.aliases),
            "StaticAddress": self.static_address,
            "IfName": self.ifname,
            "DnsServers": list(self.dns_servers),
            "Ports": [dict(p) for p in self.ports],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndpointRecord:
        return cls(
            endpoint_id=str(data["EndpointID"]),
            container_id=str(data["ContainerID"]),
            name=str(data.get("Name") or ""),
            address=str(data.get("IPv4Address") or ""),
            mac_address=str(data.get("MacAddress") or ""),
            aliases=[str(a) for a in data.get("Aliases") or ()],
            static_address=bool(data.get("StaticAddress")),
            ifname=str(data.get("IfName") or "eth0"),
            dns_servers=[str(a) for a in data.get("DnsServers") or ()],
            ports=[dict(p) for p in data.get("Ports") or ()],
        )


@dataclass
class Network:
    id: str
    name: str
    driver: str  # "bridge", "host", "null"
    created: str
    ipam_config: list[dict[str, str]] = field(default_factory=list)  # Subnet, IPRange, Gateway
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    endpoints: dict[str, EndpointRecord] = field(default_factory=dict)  # by container ID

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def has_addresses(self) -> bool:
        return self.driver == "bridge"

    def to_json(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Driver": self.driver,
            "Created": self.created,
            "IPAMConfig": copy.deepcopy(self.ipam_config),
            "Options": dict(self.options),
            "Labels": dict(self.labels),
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Endpoints": [e.to_json() for e in self.endpoints.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Network:
        endpoints = [EndpointRecord.from_json(e) for e in data.get("Endpoints") or ()]
        return cls(
            id=str(data["Id"]),
            name=str(data["Name"]),
            driver=str(data.get("Driver") or "bridge"),
            created=str(data.get("Created") or ""),
            ipam_config=[dict(c) for c in data.get("IPAMConfig") or ()],
            options={str(k): str(v) for k, v in (data.get("Options") or {}).items()},
            labels={str(k): str(v) for k, v in (data.get("Labels") or {}).items()},
            internal=bool(data.get("Internal")),
            attachable=bool(data.get("Attachable")),
            endpoints={e.container_id: e for e in endpoints},
        )

    def inspect(self, verbose_containers: bool = True) -> dict[str, Any]:
        """Docker's ``NetworkResource`` shape."""
        containers = {
            e.container_id: {
                "Name": e.name,
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac_address,
                "IPv4Address": e.address,
                "IPv6Address": "",
            }
            for e in self.endpoints.values()
        }
        return {
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv6": False,
            "IPAM": {
                "Driver": "default",
                "Options": None if self.predefined else {},
                "Config": copy.deepcopy(self.ipam_config),
            },
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers if verbose_containers else {},
            "Options": dict(self.options),
            "Labels": dict(self.labels),
        }
