"""The network service: network records, addresses, and endpoints of containers.

Networks are records (:mod:`.store`); a bridge network's device and packet-filter table are
made by its driver when the network is created, or — for the default ``bridge`` network and
after a daemon restart — the first time a container needs it, so a daemon that runs no
container touches nothing on the host. At daemon stop, networks no running container uses
are taken down (their records stay); a restart brings back those that live containers use.

Every method is blocking and thread-safe (one lock around records and addresses; driver
calls for one endpoint happen outside it).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import BadParameter, BerthError, Conflict, NotFound
from berth.engine.networks import ipam
from berth.engine.networks.dnsnames import DnsEndpoint
from berth.engine.networks.model import EndpointRecord, Network
from berth.engine.networks.ports import Reservation
from berth.engine.networks.store import NetworkStore
from berth.plugins import EndpointInterface, NetworkDriver, PortMapping

DEFAULT_BRIDGE = "berth0"
DEFAULT_BIP = "172.17.0.1/16"
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_DEFAULT = "com.docker.network.bridge.default_bridge"
OPT_HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"
DRIVER_OF_MODE = {"host": "host", "none": "null"}

DriverOf = Callable[[str], NetworkDriver]


class Forbidden(BerthError):
    status = 403


class NetworkNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"network {ref} not found")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"


def _new_id() -> str:
    return secrets.token_hex(32)


@dataclass
class EndpointRequest:
    """What a container asks of one network (``EndpointsConfig[name]``)."""

    address: str = ""
    mac_address: str = ""
    aliases: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, data: Mapping[str, Any] | None) -> EndpointRequest:
        data = data or {}
        wanted = data.get("IPAMConfig") or {}
        return cls(
            address=str(wanted.get("IPv4Address") or ""),
            mac_address=str(data.get("MacAddress") or ""),
            aliases=[str(a) for a in data.get("Aliases") or ()],
        )


@dataclass
class Attached:
    """An endpoint made for a container, with what its settings need."""

    network: Network
    record: EndpointRecord
    gateway: str
    ports: list[PortMapping] = field(default_factory=list)


class NetworkService:
    def __init__(
        self,
        store: NetworkStore,
        driver_of: DriverOf,
        config: Mapping[str, Any],
        log: Any,
        emit: Callable[..., Any] | None = None,
    ) -> None:
        self.store = store
        self.driver_of = driver_of
        self.config = config
        self.log = log
        self.emit = emit or (lambda *a, **k: None)
        self.lock = threading.RLock()
        self.networks: dict[str, Network] = {}
        self.up: set[str] = set()  # networks whose device and rules exist now
        self.reservations: dict[str, Reservation] = {}  # container ID -> held host ports
        self._bring_up_lock = threading.Lock()
        self._reaper = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="net-reaper")
        #: network ID -> endpoint ID -> (its address, its deletion) while being deleted
        self._pending: dict[
            str, dict[str, tuple[ipaddress.IPv4Address, concurrent.futures.Future[None]]]
        ] = {}
        #: Called with a network ID whenever its endpoints change (the embedded DNS).
        self.dns_listeners: list[Callable[[str], None]] = []

    # --- start and stop ------------------------------------------------------------------

    def load(self) -> None:
        """Read the records; add or refresh the predefined networks."""
        with self.lock:
            for network in self.store.load():
                self.networks[network.id] = network
            self._predefined("host", "host")
            self._predefined("none", "null")
            self._default_bridge()

    def _predefined(self, name: str, driver: str) -> None:
        if self._by_name(name) is None:
            network = Network(_new_id(), name, driver, _now())
            self.networks[network.id] = network
            self.store.save(network)

    def _default_bridge(self) -> None:
        bridge = str(self.config.get("bridge") or DEFAULT_BRIDGE)
        existing = self._by_name("bridge")
        mtu = int(self.config.get("mtu") or 0) or 1500
        bip = str(self.config.get("bip") or "")
        if bip:
            try:
                iface = ipaddress.ip_interface(bip)
            except ValueError:
                raise BerthError(f"bip {bip!r} is not an address with a prefix (CIDR)") from None
            subnet, gateway = str(iface.network), str(iface.ip)
        elif existing is not None and existing.options.get(OPT_BRIDGE_NAME) == bridge:
            subnet = existing.ipam_config[0]["Subnet"]
            gateway = existing.ipam_config[0]["Gateway"]
        elif self.config.get("default-address-pools"):
            taken = [n for n in self._subnets().values()]
            net = ipam.choose_subnet(self.config["default-address-pools"], taken)
            subnet, gateway = str(net), str(ipam.first_host(net))
        else:
            iface = ipaddress.ip_interface(DEFAULT_BIP)
            subnet, gateway = str(iface.network), str(iface.ip)
            if any(iface.network.overlaps(route) for route in ipam.host_routes()):
                # Taken on this host (docker0, another daemon's bridge): the next free pool.
                net = ipam.choose_subnet([], list(self._subnets().values()))
                subnet, gateway = str(net), str(ipam.first_host(net))
        options = {
            OPT_DEFAULT: "true",
            OPT_ICC: "true",
            OPT_MASQ: "true",
            OPT_HOST_BINDING: "0.0.0.0",
            OPT_BRIDGE_NAME: bridge,
            OPT_MTU: str(mtu),
        }
        ipam_config = [{"Subnet": subnet, "Gateway": gateway}]
        if existing is not None:
            if existing.options == options and existing.ipam_config == ipam_config:
                return
            if existing.endpoints:
                self.log.warning("network.default_bridge_kept", reason="containers use it")
                return
            old_bridge = existing.options.get(OPT_BRIDGE_NAME, "")
            if old_bridge and old_bridge != bridge:
                self._forget_device(old_bridge)
            existing.options, existing.ipam_config = options, ipam_config
            self.store.save(existing)
            return
        network = Network(_new_id(), "bridge", "bridge", _now(), ipam_config, options)
        self.networks[network.id] = network
        self.store.save(network)

    def _forget_device(self, bridge: str) -> None:
        with contextlib.suppress(Exception):
            forget = getattr(self.driver_of("bridge"), "forget_bridge", None)
            if callable(forget):
                forget(bridge)

    def reconcile(self, alive: Callable[[str], bool], running: Iterable[str] = ()) -> None:
        """After a daemon start: bring back the networks running containers use (their
        device, rules and published ports); free the endpoints of containers that are gone
        or no longer run (a crash), so no address stays taken forever; drop the namespaces
        of containers that do not run (``running``: the IDs of those that do)."""
        with contextlib.suppress(Exception):
            prune = getattr(self.driver_of("bridge"), "prune_sandboxes", None)
            if callable(prune):
                prune(set(running))
        with self.lock:
            networks = list(self.networks.values())
        for network in networks:
            stale = [cid for cid in network.endpoints if not alive(cid)]
            for container_id in stale:
                self.log.info("network.endpoint_released", network=network.name, id=container_id)
                self._release(network, container_id)
            if network.endpoints and network.has_addresses:
                try:
                    self._ensure_up(network)
                except BerthError as exc:
                    self.log.error("network.restore_failed", network=network.name, error=str(exc))

    def shutdown(self) -> None:
        """At daemon stop: take down the bridges no endpoint uses (records stay)."""
        self.wait_pending()
        for port in self.reservations.values():
            port.close()
        self.reservations.clear()
        with self.lock:
            idle = [n for n in self.networks.values() if n.id in self.up and not n.endpoints]
        for network in idle:
            with contextlib.suppress(Exception):
                self.driver_of(network.driver).delete_network(network.id)
            self.up.discard(network.id)

    def driver_available(self, name: str) -> bool:
        try:
            self.driver_of(name)
        except BerthError:
            return False
        return True

    # --- lookups ---------------------------------------------------------------------------

    def _by_name(self, name: str) -> Network | None:
        for network in self.networks.values():
            if network.name == name:
                return network
        return None

    def lookup(self, ref: str) -> Network:
        """Docker's order: full ID, name, then a unique ID prefix."""
        with self.lock:
            if ref in self.networks:
                return self.networks[ref]
            named = self._by_name(ref)
            if named is not None:
                return named
            found = [n for n in self.networks.values() if ref and n.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise BadParameter(f"network {ref} is ambiguous ({len(found)} matches found)")
        raise NetworkNotFound(ref)

    def _subnets(self, but: str = "") -> dict[str, ipaddress.IPv4Network]:
        out = {}
        for network in self.networks.values():
            if network.id == but:
                continue
            for cfg in network.ipam_config:
                with contextlib.suppress(ValueError, KeyError):
                    out[network.name] = ipaddress.IPv4Network(cfg["Subnet"], strict=False)
        return out

    # --- create, list, inspect, remove ---------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = str(body.get("Name") or "").strip()
        if not name:
            raise BadParameter("a network needs a name")
        driver_name = str(body.get("Driver") or "bridge")
        if driver_name in ("host", "null"):
            raise BadParameter(
                f"only one instance of {driver_name!r} network is allowed (the predefined one)"
            )
        try:
            driver = self.driver_of(driver_name)
        except BerthError as exc:
            raise NotFound(f"plugin {driver_name!r} not found: {exc}") from None
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        labels = {str(k): str(v) for k, v in (body.get("Labels") or {}).items()}
        if body.get("EnableIPv6"):
            raise BadParameter("IPv6 networks are not supported by berth yet")
        ipam_body = body.get("IPAM") or {}
        if str(ipam_body.get("Driver") or "default") != "default":
            raise BadParameter(f"IPAM driver {ipam_body.get('Driver')!r} is not supported")
        configs = list(ipam_body.get("Config") or [])
        if len(configs) > 1:
            raise BadParameter("only one IPv4 pool per network is supported")
        mtu = options.get(OPT_MTU, "")
        if mtu and (not mtu.isdigit() or not 68 <= int(mtu) <= 65535):
            raise BadParameter(f"invalid MTU {mtu!r}: a number from 68 to 65535")
        bridge_name = options.get(OPT_BRIDGE_NAME, "")
        if bridge_name and (len(bridge_name) > 15 or "/" in bridge_name or " " in bridge_name):
            raise BadParameter(f"invalid bridge name {bridge_name!r}: at most 15 characters")
        with self.lock:
            if self._by_name(name) is not None:
                raise Conflict(f"network with name {name} already exists")
            if bridge_name and any(
                n.options.get(OPT_BRIDGE_NAME) == bridge_name for n in self.networks.values()
            ):
                raise Conflict(f"bridge name {bridge_name} is used by another network")
            pool = self._pool(configs[0] if configs else {})
            network = Network(
                _new_id(),
                name,
                driver_name,
                _now(),
                [pool],
                options,
                labels,
                internal=bool(body.get("Internal")),
                attachable=bool(body.get("Attachable")),
            )
            self.networks[network.id] = network  # holds the subnet while the bridge is made
        try:
            self._bring_up(network, driver)
            self.store.save(network)
        except BaseException:
            with self.lock:
                self.networks.pop(network.id, None)
            with contextlib.suppress(Exception):
                driver.delete_network(network.id)
            self.up.discard(network.id)
            raise
        self.emit("network", "create", network.id, name=name, type=driver_name)
        return {"Id": network.id, "Warning": ""}

    def _pool(self, wanted: Mapping[str, Any]) -> dict[str, str]:
        subnet_text = str(wanted.get("Subnet") or "")
        taken = self._subnets()
        if subnet_text:
            subnet = ipam.parse_subnet(subnet_text)
            ipam.check_overlap(subnet, taken)
        else:
            if wanted.get("IPRange") or wanted.get("Gateway"):
                raise BadParameter("--ip-range and --gateway need --subnet")
            subnet = ipam.choose_subnet(
                self.config.get("default-address-pools") or [], taken.values()
            )
        pool = {"Subnet": str(subnet)}
        ip_range = str(wanted.get("IPRange") or "")
        if ip_range:
            parsed = ipam.parse_subnet(ip_range)
            if not parsed.subnet_of(subnet):
                raise BadParameter(f"ip-range {ip_range} is not inside subnet {subnet}")
            pool["IPRange"] = str(parsed)
        gateway_text = str(wanted.get("Gateway") or "")
        if gateway_text:
            gateway = ipam.parse_address(gateway_text, "gateway")
            if gateway not in subnet:
                raise BadParameter(f"gateway {gateway} is not inside subnet {subnet}")
        else:
            gateway = ipam.first_host(subnet)
        pool["Gateway"] = str(gateway)
        return pool

    def _driver_options(self, network: Network) -> dict[str, Any]:
        options: dict[str, Any] = dict(network.options)
        options.setdefault(OPT_BRIDGE_NAME, "br-" + network.id[:12])
        if not options.get(OPT_MTU) and self.config.get("mtu"):
            options[OPT_MTU] = str(self.config["mtu"])
        options["internal"] = network.internal
        return options

    def _bring_up(self, network: Network, driver: NetworkDriver) -> None:
        pools = [
            {"Subnet": c["Subnet"], "Gateway": c.get("Gateway", "")} for c in network.ipam_config
        ]
        try:
            driver.create_network(network.id, self._driver_options(network), pools)
        except BerthError:
            raise
        except Exception as exc:
            raise BerthError(
                f"cannot create network {network.name}: {type(exc).__name__}: {exc}"
            ) from None
        self.up.add(network.id)

    def _ensure_up(self, network: Network) -> NetworkDriver:
        driver = self.driver_of(network.driver)
        if network.id in self.up:
            return driver
        with self._bring_up_lock:  # the first containers of a network may start together
            if network.id not in self.up:
                self._bring_up(network, driver)
                for record in list(network.endpoints.values()):  # after a restart: ports
                    self._reprogram(network, driver, record)
        return driver

    def _reprogram(self, network: Network, driver: NetworkDriver, record: EndpointRecord) -> None:
        mappings = [PortMapping(**p) for p in record.ports]
        if mappings:
            with contextlib.suppress(Exception):
                driver.program_external_connectivity(
                    network.id, record.endpoint_id, {"ports": mappings, "address": record.address}
                )

    def list_networks(
        self, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[dict[str, Any]]:
        filters = filters or {}
        known = {"name", "id", "driver", "type", "label", "scope", "dangling"}
        for key in filters:
            if key not in known:
                raise BadParameter(f"invalid filter '{key}'")
        with self.lock:
            networks = sorted(self.networks.values(), key=lambda n: n.created)
            out = []
            for network in networks:
                if self._matches(network, filters):
                    out.append(network.inspect(verbose_containers=False))
        return out

    def _matches(self, network: Network, filters: Mapping[str, Sequence[str]]) -> bool:
        def any_of(key: str, test: Callable[[str], bool]) -> bool:
            values = filters.get(key)
            return not values or any(test(v) for v in values)

        def label_ok(value: str) -> bool:
            key, eq, wanted = value.partition("=")
            return key in network.labels and (not eq or network.labels[key] == wanted)

        kind = "builtin" if network.predefined else "custom"
        return (
            any_of("name", lambda v: v in network.name)
            and any_of("id", lambda v: network.id.startswith(v))
            and any_of("driver", lambda v: v == network.driver)
            and any_of("type", lambda v: v == kind)
            and any_of("scope", lambda v: v == "local")
            and any_of("label", label_ok)
            and any_of(
                "dangling",
                lambda v: (
                    (v.lower() in ("1", "true"))
                    == (not network.endpoints and not network.predefined)
                ),
            )
        )

    def inspect(self, ref: str) -> dict[str, Any]:
        network = self.lookup(ref)
        with self.lock:
            return network.inspect()

    def remove(self, ref: str) -> None:
        network = self.lookup(ref)
        if network.predefined:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        with self.lock:
            if network.endpoints:
                names = ", ".join(sorted(e.name for e in network.endpoints.values()))
                raise Conflict(
                    f"error while removing network: network {network.name} id {network.id} "
                    f"has active endpoints ({names})"
                )
            self.networks.pop(network.id, None)
        self.wait_pending(network.id)
        try:
            self.driver_of(network.driver).delete_network(network.id)
        except Exception as exc:
            self.log.error("network.delete_failed", network=network.name, error=str(exc))
        self.up.discard(network.id)
        self.store.remove(network.id)
        self.emit("network", "destroy", network.id, name=network.name, type=network.driver)

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[str]:
        with self.lock:
            unused = [
                n
                for n in self.networks.values()
                if not n.predefined
                and not n.endpoints
                and self._matches(n, {k: v for k, v in (filters or {}).items() if k == "label"})
            ]
        removed = []
        for network in unused:
            with contextlib.suppress(BerthError):
                self.remove(network.id)
                removed.append(network.name)
        return removed

    # --- endpoints -------------------------------------------------------------------------

    def create_sandbox(self, container_id: str) -> str:
        try:
            return self.driver_of("bridge").create_sandbox(container_id)
        except BerthError:
            raise
        except Exception as exc:
            raise BerthError(f"cannot create the network namespace: {exc}") from None

    def delete_sandbox(self, sandbox_key: str) -> None:
        with contextlib.suppress(Exception):
            self.driver_of("bridge").delete_sandbox(sandbox_key)

    def attach(
        self,
        network: Network,
        container_id: str,
        name: str,
        sandbox: str,
        request: EndpointRequest,
        ifname: str,
        default_route: bool,
        dns_servers: Sequence[str] = (),
    ) -> Attached:
        """Give the container an address on ``network`` and its interface in ``sandbox``."""
        if not network.has_addresses:
            raise BadParameter(f"container cannot be connected to network {network.name}")
        driver = self._ensure_up(network)
        pool = network.ipam_config[0]
        subnet = ipaddress.IPv4Network(pool["Subnet"], strict=False)
        gateway = pool.get("Gateway", "")
        wanted = ipam.parse_address(request.address, "IPv4 address") if request.address else None
        if wanted is not None and network.name == "bridge":
            raise BadParameter(
                "user specified IP address is supported on user defined networks only"
            )
        with self.lock:
            if container_id in network.endpoints:
                raise Conflict(
                    f"endpoint with name {name} already exists in network {network.name}"
                )
            used = {ipaddress.IPv4Interface(e.address).ip for e in network.endpoints.values()}
            used.update(address for address, _ in self._pending.get(network.id, {}).values())
            if gateway:
                used.add(ipaddress.IPv4Address(gateway))
            ip_range = pool.get("IPRange")
            address = ipam.allocate(
                subnet, ipaddress.IPv4Network(ip_range) if ip_range else None, used, wanted
            )
            record = EndpointRecord(
                endpoint_id=_new_id(),
                container_id=container_id,
                name=name,
                address=f"{address}/{subnet.prefixlen}",
                mac_address=request.mac_address,
                aliases=list(request.aliases),
                static_address=wanted is not None,
                ifname=ifname,
                dns_servers=list(dns_servers),
            )
            network.endpoints[container_id] = record  # the address is taken from here on
        try:
            final = driver.create_endpoint(
                network.id,
                record.endpoint_id,
                EndpointInterface(address=record.address, mac_address=record.mac_address),
                {},
            )
            record.mac_address = final.mac_address
            info = driver.join(
                network.id,
                record.endpoint_id,
                sandbox,
                {"ifname": ifname, "default_route": default_route},
            )
        except BaseException as exc:
            self._release(network, container_id)
            if isinstance(exc, BerthError | KeyboardInterrupt):
                raise
            raise BerthError(
                f"cannot connect to network {network.name}: {type(exc).__name__}: {exc}"
            ) from None
        self._saved(network)
        self.emit("network", "connect", network.id, container=container_id, name=network.name,
                  type=network.driver)  # fmt: skip
        return Attached(network, record, info.gateway or gateway)

    def publish(self, attached: Attached, mappings: list[PortMapping]) -> None:
        driver = self.driver_of(attached.network.driver)
        try:
            driver.program_external_connectivity(
                attached.network.id,
                attached.record.endpoint_id,
                {"ports": mappings, "address": attached.record.address},
            )
        except Exception as exc:
            raise BerthError(
                f"driver failed programming external connectivity on endpoint "
                f"{attached.record.name}: {exc}"
            ) from None
        attached.ports = mappings
        attached.record.ports = [dataclasses.asdict(m) for m in mappings]
        self._saved(attached.network)

    def detach(self, network: Network, container_id: str) -> None:
        self._release(network, container_id)

    def _release(self, network: Network, container_id: str) -> None:
        with self.lock:
            record = network.endpoints.get(container_id)
        if record is None:
            return
        driver: NetworkDriver | None = None
        with contextlib.suppress(Exception):
            driver = self.driver_of(network.driver)
            with contextlib.suppress(Exception):
                driver.revoke_external_connectivity(network.id, record.endpoint_id)
            driver.leave(network.id, record.endpoint_id)
        with self.lock:
            network.endpoints.pop(container_id, None)
            if driver is not None:
                # Deleting a veth waits for the kernel (tens of ms): it happens in the
                # background, the address held until it is done; the endpoint has left.
                future = self._reaper.submit(
                    self._delete_endpoint, driver, network.id, record.endpoint_id
                )
                self._pending.setdefault(network.id, {})[record.endpoint_id] = (
                    ipaddress.IPv4Interface(record.address).ip,
                    future,
                )
                future.add_done_callback(
                    lambda _f: self._forget_pending(network.id, record.endpoint_id)
                )
        self._saved(network)
        self.emit("network", "disconnect", network.id, container=container_id,
                  name=network.name, type=network.driver)  # fmt: skip

    def _delete_endpoint(self, driver: NetworkDriver, network_id: str, endpoint_id: str) -> None:
        try:
            driver.delete_endpoint(network_id, endpoint_id)
        except Exception as exc:
            self.log.error("network.endpoint_delete_failed", endpoint=endpoint_id, error=str(exc))

    def _forget_pending(self, network_id: str, endpoint_id: str) -> None:
        with self.lock:
            self._pending.get(network_id, {}).pop(endpoint_id, None)

    def wait_pending(self, network_id: str | None = None) -> None:
        """Wait until the endpoints being deleted (of one network, or all) are gone."""
        with self.lock:
            futures = [
                future
                for nid, items in self._pending.items()
                if network_id is None or nid == network_id
                for _, future in items.values()
            ]
        concurrent.futures.wait(futures)

    def _saved(self, network: Network) -> None:
        with self.lock:
            if network.id in self.networks:
                self.store.save_endpoints(network)
        for listener in list(self.dns_listeners):
            with contextlib.suppress(Exception):
                listener(network.id)

    def networks_of(self, container_id: str) -> list[Network]:
        with self.lock:
            return [n for n in self.networks.values() if container_id in n.endpoints]

    # --- for the embedded DNS --------------------------------------------------------------

    def endpoints_for_dns(self, network_id: str) -> list[DnsEndpoint]:
        """Every container attached to the network now, as the DNS resolver sees it."""
        with self.lock:
            network = self.networks.get(network_id)
            if network is None:
                return []
            return [
                DnsEndpoint(
                    network_id=network.id,
                    network_name=network.name,
                    container_id=e.container_id,
                    container_name=e.name,
                    aliases=tuple(e.aliases),
                    ipv4=str(ipaddress.IPv4Interface(e.address).ip) if e.address else "",
                    dns_servers=tuple(e.dns_servers),
                )
                for e in network.endpoints.values()
            ]

    def all_networks(self) -> Iterable[Network]:
        with self.lock:
            return list(self.networks.values())
