"""Who is calling: the allow-list, and X-Forwarded-For believed from trusted proxies only."""

from __future__ import annotations

import pytest

from facade.network import ClientPolicy


def test_without_an_allow_list_everyone_may_call():
    policy = ClientPolicy()
    assert policy.allowed("198.51.100.1")
    assert policy.allowed("2001:db8::1")


def test_the_allow_list_takes_addresses_and_networks_of_both_families():
    policy = ClientPolicy(allow=["203.0.113.0/24", "192.0.2.9", "2001:db8::/32"])
    assert policy.allowed("203.0.113.200")
    assert policy.allowed("192.0.2.9")
    assert policy.allowed("2001:db8:1::5")
    assert not policy.allowed("192.0.2.10")
    assert not policy.allowed("198.51.100.1")
    assert not policy.allowed("not an address")


def test_an_ipv4_mapped_peer_counts_as_its_ipv4_address():
    policy = ClientPolicy(allow=["203.0.113.0/24"])
    assert policy.allowed("::ffff:203.0.113.7")


def test_a_bad_network_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match=r"--trusted-proxies: '10\.0\.0\.300' is not"):
        ClientPolicy(trusted_proxies=["10.0.0.300"])
    with pytest.raises(ValueError, match="--allow-cidrs: 'anywhere' is not"):
        ClientPolicy(allow=["anywhere"])


def test_forwarded_for_is_ignored_without_trusted_proxies():
    policy = ClientPolicy()
    assert policy.client_address("198.51.100.1", "203.0.113.7") == "198.51.100.1"


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    policy = ClientPolicy(trusted_proxies=["10.0.0.0/8"])
    assert policy.client_address("198.51.100.1", "203.0.113.7") == "198.51.100.1"


def test_from_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client():
    policy = ClientPolicy(trusted_proxies=["10.0.0.0/8"])
    assert policy.client_address("10.0.0.2", "203.0.113.7") == "203.0.113.7"
    # Read from the right: proxies of ours are skipped, and whatever the client wrote further
    # left (here a forged allowed address) is never believed.
    chain = "192.0.2.1, 203.0.113.7, 10.1.1.1,10.2.2.2"
    assert policy.client_address("10.0.0.2", chain) == "203.0.113.7"


def test_a_chain_of_only_trusted_proxies_names_its_first_hop():
    policy = ClientPolicy(trusted_proxies=["10.0.0.0/8"])
    assert policy.client_address("10.0.0.2", "10.9.9.9, 10.1.1.1") == "10.9.9.9"


def test_an_empty_forwarded_for_leaves_the_peer():
    policy = ClientPolicy(trusted_proxies=["10.0.0.0/8"])
    assert policy.client_address("10.0.0.2", "") == "10.0.0.2"
    assert policy.client_address("10.0.0.2", " , ") == "10.0.0.2"
