"""A nova virt driver for the test stack: nova's FakeDriver without neutron port binding.

neutron-server runs API-only (no agents, no mechanism drivers), so a port bound to a host
ends in ``binding_failed`` and nova puts the server in ERROR. Like the Ironic driver for
non-flat networks, this driver asks nova not to bind ports to a host
(``network_binding_host_id`` -> None): ports stay ``unbound``, servers with a NIC on a
real neutron network go ACTIVE. Loaded by nova-compute through ``compute_driver =
ivoa_fakevirt.UnboundFakeDriver`` after openstack-up.sh copies it into nova/virt/
(nova loads drivers from there only).
"""

from nova.virt import fake


class UnboundFakeDriver(fake.FakeDriver):  # type: ignore[misc]
    def network_binding_host_id(self, context, instance):  # type: ignore[no-untyped-def]
        return None
