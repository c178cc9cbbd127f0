"""Genesys Cloud regions: the org's region (a name such as `eu_west_1`, or its domain such as
`mypurecloud.ie`) gives its API host `https://api.{domain}` and login host
`https://login.{domain}` (genesys-org-api.md, section 1)."""

from __future__ import annotations

REGIONS = {
    "us_east_1": "mypurecloud.com",
    "us_east_2": "use2.us-gov-pure.cloud",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "eu_west_1": "mypurecloud.ie",
    "eu_west_2": "euw2.pure.cloud",
    "eu_central_1": "mypurecloud.de",
    "eu_central_2": "euc2.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "ap_northeast_2": "apne2.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
}


class RegionError(ValueError):
    """A region that is neither a known name nor a known domain."""


def domain_of(region: str) -> str:
    """The org's domain for a region name (`eu_west_1`, `eu-west-1`) or a domain itself."""
    given = region.strip().lower()
    if given in REGIONS.values():
        return given
    name = given.replace("-", "_")
    if name in REGIONS:
        return REGIONS[name]
    raise RegionError(
        f"unknown Genesys region {region!r}: give a region name such as eu_west_1 or the org's "
        f"domain such as mypurecloud.ie (known: {', '.join(sorted(REGIONS))})"
    )


def hosts(region: str) -> tuple[str, str]:
    """(API base URL, login base URL) of a region."""
    domain = domain_of(region)
    return f"https://api.{domain}", f"https://login.{domain}"
