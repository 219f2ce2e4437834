"""Networks: the engine side of networking (records, IPAM use, container wiring, DNS).

- :mod:`.model`, :mod:`.store`: network records (``<data-root>/networks/<id>.json``) with
  their endpoints (one per container attached);
- :mod:`.ipam`: pools and addresses (Docker's default pools, ``default-address-pools``,
  ``bip``), the built-in IPAM the ``default`` IPAM driver name stands for;
- :mod:`.ports`: ``-p``/``-P`` bindings and host port reservation;
- :mod:`.service`: :class:`~.service.NetworkService`, the object the API and the container
  service use (create/inspect/list/remove/prune/connect/disconnect, attach at start, detach at
  stop, reconcile at daemon start).

For the embedded DNS (``dns*.py``): ``NetworkService.endpoints_for_dns(network_id)`` returns
the :class:`~.dnsnames.DnsEndpoint` of every container attached to the network right now
(container ID and name, ``--network-alias`` names, IPv4, ``--dns`` servers), and
``NetworkService.dns_listeners`` holds callbacks called (from worker threads) with a network
ID each time its endpoints change.
"""
