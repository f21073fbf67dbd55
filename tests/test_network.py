"""Tests for IP prefix and network lookup (antidistill.fingerprints.network)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from antidistill.errors import ConfigurationError
from antidistill.fingerprints.network import NetworkInfo, NetworkResolver, ip_prefix

MM = Path(__file__).parent / "data" / "maxmind"
ASN_DB = MM / "GeoLite2-ASN-Test.mmdb"
ANON_DB = MM / "GeoIP2-Anonymous-IP-Test.mmdb"
ANON_PLUS_DB = MM / "GeoIP-Anonymous-Plus-Test.mmdb"
RESIDENTIAL_DB = MM / "GeoIP-Residential-Proxy-Test.mmdb"
ISP_DB = MM / "GeoIP2-ISP-Test.mmdb"

INVALID_IPS = [
    "",
    " ",
    "bogus",
    "999.1.1.1",
    "1.2.3",
    "1.2.3.4/24",
    "1.2.3.4:8080",
    "::g",
    "2001:db8:::1",
    "1.2.3.4\x00",
    "\u0661.\u0662.\u0663.\u0664",  # Arabic-Indic digits
    "1" * 10_000,
]


# --- ip_prefix -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "4:203.0.113.0/24"),
        (" 203.0.113.77 ", "4:203.0.113.0/24"),
        ("0.0.0.0", "4:0.0.0.0/24"),
        ("255.255.255.255", "4:255.255.255.0/24"),
        ("2001:db8:1:2::5", "6:2001:db8:1::/48"),
        ("2001:0DB8:0001:ffff:ffff:ffff:ffff:ffff", "6:2001:db8:1::/48"),
        ("[2001:db8:abcd:12::1]", "6:2001:db8:abcd::/48"),
        ("fe80::1%eth0", "6:fe80::/48"),
        ("::1", "6:::/48"),
        ("::ffff:203.0.113.9", "4:203.0.113.0/24"),  # dual-stack socket view of an IPv4 peer
    ],
)
def test_ip_prefix(ip: str, expected: str) -> None:
    assert ip_prefix(ip) == expected


def test_ip_prefix_custom_bits() -> None:
    assert ip_prefix("203.0.113.77", v4_bits=16) == "4:203.0.0.0/16"
    assert ip_prefix("203.0.113.77", v4_bits=32) == "4:203.0.113.77/32"
    assert ip_prefix("203.0.113.77", v4_bits=0) == "4:0.0.0.0/0"
    assert ip_prefix("2001:db8:1:2:3::5", v6_bits=64) == "6:2001:db8:1:2::/64"
    assert ip_prefix("2001:db8:1:2:3::5", v6_bits=32) == "6:2001:db8::/32"


@pytest.mark.parametrize("bits", [{"v4_bits": 33}, {"v4_bits": -1}, {"v6_bits": 129}])
def test_ip_prefix_rejects_bad_lengths(bits: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ip_prefix("203.0.113.77", **bits)


@pytest.mark.parametrize("ip", INVALID_IPS)
def test_ip_prefix_invalid(ip: str) -> None:
    assert ip_prefix(ip) == ""


def test_ip_prefix_non_string() -> None:
    bad: Any = None
    assert ip_prefix(bad) == ""
    assert ip_prefix(b"1.2.3.4") == ""  # type: ignore[arg-type]


# --- resolver over MaxMind's own test databases ----------------------------------------------


@pytest.fixture
def resolver() -> Iterator[NetworkResolver]:
    with NetworkResolver(ASN_DB, ANON_DB) as r:
        yield r


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("1.0.0.1", NetworkInfo("4:1.0.0.0/24", 15169, "Google Inc.", "isp", False)),
        ("::ffff:1.0.0.9", NetworkInfo("4:1.0.0.0/24", 15169, "Google Inc.", "isp", False)),
        ("1.128.0.1", NetworkInfo("4:1.128.0.0/24", 1221, "Telstra Pty Ltd", "isp", False)),
        ("12.81.100.1", NetworkInfo("4:12.81.100.0/24", 7018, None, "isp", False)),
        (
            "2001:1700::1",
            NetworkInfo("6:2001:1700::/48", 6730, "Sunrise Communications AG", "isp", False),
        ),
        ("1.2.3.4", NetworkInfo("4:1.2.3.0/24", None, None, "vpn", True)),
        ("1.124.213.1", NetworkInfo("4:1.124.213.0/24", None, None, "tor", True)),
        ("81.2.69.160", NetworkInfo("4:81.2.69.0/24", None, None, "tor", True)),
        ("71.160.223.5", NetworkInfo("4:71.160.223.0/24", None, None, "hosting", True)),
        ("186.30.236.7", NetworkInfo("4:186.30.236.0/24", None, None, "proxy", True)),
        ("65.1.2.3", NetworkInfo("4:65.1.2.0/24", None, None, "tor", True)),
        ("6.1.0.2", NetworkInfo("4:6.1.0.0/24", None, None, "hosting", True)),
        ("6.1.0.3", NetworkInfo("4:6.1.0.0/24", None, None, "proxy", True)),
        ("6.1.0.4", NetworkInfo("4:6.1.0.0/24", None, None, "residential_proxy", True)),
        ("abcd:1000::5", NetworkInfo("6:abcd:1000::/48", None, None, "proxy", True)),
        ("2001:480:3a::1", NetworkInfo("6:2001:480:3a::/48", None, None, "proxy", True)),
        # Known to neither DB: no ASN, so we cannot say it is an ISP.
        ("192.0.2.1", NetworkInfo("4:192.0.2.0/24", None, None, "unknown", False)),
    ],
)
def test_lookup_maxmind_test_dbs(resolver: NetworkResolver, ip: str, expected: NetworkInfo) -> None:
    assert resolver.lookup(ip) == expected
    assert resolver.lookup(ip) == expected  # cached path


def test_asn_only_does_not_guess_network_type() -> None:
    with NetworkResolver(asn_db=ASN_DB) as r:
        assert r.lookup("1.0.0.1") == NetworkInfo(
            "4:1.0.0.0/24", 15169, "Google Inc.", "unknown", False
        )


def test_anon_only() -> None:
    with NetworkResolver(anon_db=ANON_DB) as r:
        assert r.lookup("71.160.223.5").network_type == "hosting"
        assert r.lookup("1.0.0.1") == NetworkInfo("4:1.0.0.0/24", None, None, "unknown", False)


def test_anonymous_plus_and_isp_dbs() -> None:
    with NetworkResolver(ISP_DB, ANON_PLUS_DB) as r:
        assert r.lookup("1.128.0.1") == NetworkInfo(
            "4:1.128.0.0/24", 1221, "Telstra Pty Ltd", "isp", False
        )
        assert r.lookup("1.2.0.1").network_type == "vpn"
        assert r.lookup("6.1.0.4").network_type == "residential_proxy"


def test_isp_db_organisation_fallback() -> None:
    # ::1.0.128.0/113 in the ISP test DB has an isp/organization but no ASN fields.
    with NetworkResolver(asn_db=ISP_DB) as r:
        info = r.lookup("1.0.128.5")
        assert info.asn is None
        assert info.as_org == "TOT Public Company Limited"


def test_residential_proxy_db() -> None:
    with NetworkResolver(anon_db=RESIDENTIAL_DB) as r:
        assert r.lookup("1.2.0.4") == NetworkInfo(
            "4:1.2.0.0/24", None, None, "residential_proxy", True
        )
        assert r.lookup("6.0.42.17").network_type == "residential_proxy"
        # A miss in a residential-proxy-only DB says nothing about hosting: stay "unknown".
        assert r.lookup("1.2.0.5").network_type == "unknown"
    with NetworkResolver(ASN_DB, RESIDENTIAL_DB) as r:
        assert r.lookup("1.0.0.1").network_type == "unknown"


def test_no_databases_gives_prefix_only() -> None:
    r = NetworkResolver()
    assert r.lookup("203.0.113.9") == NetworkInfo("4:203.0.113.0/24", None, None, "unknown", False)
    assert r.lookup("2001:db8:1::9") == NetworkInfo(
        "6:2001:db8:1::/48", None, None, "unknown", False
    )
    r.close()


@pytest.mark.parametrize("ip", INVALID_IPS)
def test_lookup_invalid_never_raises(resolver: NetworkResolver, ip: str) -> None:
    assert resolver.lookup(ip) == NetworkInfo("", None, None, "unknown", False)


def test_lookup_non_string(resolver: NetworkResolver) -> None:
    bad: Any = 12345
    assert resolver.lookup(bad).prefix == ""
    assert resolver.lookup(None).prefix == ""  # type: ignore[arg-type]


def test_lookup_after_close_gives_prefix_only() -> None:
    r = NetworkResolver(ASN_DB, ANON_DB)
    assert r.lookup("1.0.0.1").asn == 15169
    r.close()
    assert r.lookup("1.0.0.1") == NetworkInfo("4:1.0.0.0/24", None, None, "unknown", False)
    r.close()  # idempotent


def test_cache_disabled_still_works() -> None:
    with NetworkResolver(ASN_DB, ANON_DB, cache_size=0) as r:
        assert r.lookup("1.0.0.1").asn == 15169
        assert r.lookup("1.0.0.1").asn == 15169


def test_missing_database_is_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        NetworkResolver(asn_db=tmp_path / "nope.mmdb")
    with pytest.raises(ConfigurationError):
        NetworkResolver(ASN_DB, anon_db=str(tmp_path / "nope.mmdb"))


def test_invalid_database_is_configuration_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"this is not a maxmind database" * 10)
    with pytest.raises(ConfigurationError, match="not a readable"):
        NetworkResolver(asn_db=junk)
    with pytest.raises(ConfigurationError):
        NetworkResolver(anon_db=tmp_path)  # a directory


# --- resolver over databases written at test time with mmdb-writer ---------------------------


def _write_db(path: Path, database_type: str, records: dict[str, dict[str, Any]]) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type)
    for cidr, record in records.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def test_databases_built_with_mmdb_writer(tmp_path: Path) -> None:
    asn_db = _write_db(
        tmp_path / "asn.mmdb",
        "GeoLite2-ASN",
        {
            "198.51.100.0/24": {
                "autonomous_system_number": 64500,
                "autonomous_system_organization": "Example Hosting",
            },
            "2001:db8::/32": {
                "autonomous_system_number": 64501,
                "autonomous_system_organization": "Example Six",
            },
        },
    )
    anon_db = _write_db(
        tmp_path / "anon.mmdb",
        "GeoIP2-Anonymous-IP",
        {
            "198.51.100.128/25": {"is_anonymous": True, "is_hosting_provider": True},
            "2001:db8:bad::/48": {"is_anonymous": True, "is_anonymous_vpn": True},
        },
    )
    with NetworkResolver(str(asn_db), anon_db) as r:
        assert r.lookup("198.51.100.5") == NetworkInfo(
            "4:198.51.100.0/24", 64500, "Example Hosting", "isp", False
        )
        assert r.lookup("198.51.100.200") == NetworkInfo(
            "4:198.51.100.0/24", 64500, "Example Hosting", "hosting", True
        )
        assert r.lookup("2001:db8:5::1") == NetworkInfo(
            "6:2001:db8:5::/48", 64501, "Example Six", "isp", False
        )
        assert r.lookup("2001:db8:bad::1") == NetworkInfo(
            "6:2001:db8:bad::/48", 64501, "Example Six", "vpn", True
        )
        assert r.lookup("192.0.2.1") == NetworkInfo("4:192.0.2.0/24", None, None, "unknown", False)


def test_hostile_records_are_ignored(tmp_path: Path) -> None:
    # A DB with the right type but wrong value types must not leak them into NetworkInfo.
    asn_db = _write_db(
        tmp_path / "weird.mmdb",
        "GeoLite2-ASN",
        {
            "198.51.100.0/24": {
                "autonomous_system_number": "64500",
                "autonomous_system_organization": 7,
            },
            "203.0.113.0/24": {"autonomous_system_organization": "x" * 1000},
        },
    )
    with NetworkResolver(asn_db) as r:
        assert r.lookup("198.51.100.1") == NetworkInfo(
            "4:198.51.100.0/24", None, None, "unknown", False
        )
        org = r.lookup("203.0.113.1").as_org
        assert org is not None and len(org) == 128


def test_ipv4_only_database_answers_ipv6_queries_safely(tmp_path: Path) -> None:
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-ASN")
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"autonomous_system_number": 64500})
    path = tmp_path / "v4.mmdb"
    writer.to_db_file(str(path))
    with NetworkResolver(path) as r:
        assert r.lookup("198.51.100.1").asn == 64500
        assert r.lookup("2001:db8::1") == NetworkInfo(
            "6:2001:db8::/48", None, None, "unknown", False
        )
