from speaker.membership.leases import lease_name, node_of


def test_lease_names_round_trip_and_other_leases_are_ignored():
    assert node_of(lease_name("node-a")) == "node-a"
    assert node_of("metalpool-controller") is None
