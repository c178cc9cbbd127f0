"""Facts about a caller's phone number, derived with libphonenumber and cached."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as number_timezones

NUMBER_TYPE_NAMES: dict[int, str] = {
    value: name.lower()
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
_UNKNOWN_ZONE = "Etc/Unknown"
# Where a number's region came from (`regionSource`): the number itself (a valid number), or
# only its calling code (the main region of a shared code: US for +1), or nowhere ("").
REGION_FROM_NUMBER = "number"
REGION_FROM_CALLING_CODE = "calling code"


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """What libphonenumber tells about one number; e164 is empty when it could not be parsed."""

    e164: str = ""
    region: str = ""
    calling_code: int = 0
    number_type: str = "unknown"
    valid: bool = False
    time_zones: tuple[str, ...] = ()
    region_source: str = ""  # REGION_FROM_NUMBER, REGION_FROM_CALLING_CODE or "" (no region)


def calling_code_of(country_code: str) -> int | None:
    """ "+44", "44", "0044" and " +44 " all mean 44; anything else means no calling code."""
    digits = country_code.strip().removeprefix("+")
    if digits.startswith("00"):
        digits = digits[2:]
    if not digits.isdigit() or len(digits) > 3:
        return None
    return int(digits) or None


def region_of_calling_code(code: int) -> str:
    """The main region of a calling code ("GB" for 44, "US" for 1); "" for none or for a
    non-geographic code (800, 882, ...)."""
    region = phonenumbers.region_code_for_country_code(code) if code else ""
    return "" if region in (phonenumbers.UNKNOWN_REGION, "001") else region


def _region(number_region: str, calling_code: int) -> tuple[str, str]:
    """(region, where it came from): the number's own when it has one, else its calling
    code's, so that `region = "GB"` still matches a UK caller who typed a digit too few."""
    if number_region:
        return number_region, REGION_FROM_NUMBER
    region = region_of_calling_code(calling_code)
    return region, REGION_FROM_CALLING_CODE if region else ""


def parse_number(
    phone_number: str, country_code: str, default_region: str = ""
) -> phonenumbers.PhoneNumber | None:
    """Parses a number as a visitor typed it: national (with or without trunk prefix) in the
    region of `country_code`, or international ("+44...", "0044..."); None if it cannot."""
    text = phone_number.strip()
    if text.startswith("00"):
        # Widgets in NANP countries have "011" as their exit code, so libphonenumber would not
        # read "00" there; nobody dials a national number starting with "00" either.
        text = "+" + text[2:]
    calling_code = calling_code_of(country_code)
    region = default_region or None
    if calling_code is not None:
        code_region = phonenumbers.region_code_for_country_code(calling_code)
        region = None if code_region == phonenumbers.UNKNOWN_REGION else code_region
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def e164_of(phone_number: str, country_code: str, default_region: str = "") -> str:
    """Just the E.164 form ("" if unparseable): what bulk imports need, at a fraction of the
    cost of full facts (validity, type and time zones)."""
    number = parse_number(phone_number, country_code, default_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if number else ""


@functools.lru_cache(maxsize=16384)
def number_facts(phone_number: str, country_code: str, default_region: str = "") -> NumberFacts:
    """Everything the rules may ask about a number; cached, since TrueEngage retries and
    callers ask twice."""
    number = parse_number(phone_number, country_code, default_region)
    if number is None:
        code = calling_code_of(country_code) or 0
        region, source = _region("", code)
        return NumberFacts(calling_code=code, region=region, region_source=source)
    zones = tuple(z for z in number_timezones.time_zones_for_number(number) if z != _UNKNOWN_ZONE)
    # A parsed number always has its country code; phonenumbers types it Optional.
    code = number.country_code or 0
    valid = phonenumbers.is_valid_number(number)
    own = (phonenumbers.region_code_for_number(number) or "") if valid else ""
    region, source = _region(own, code)
    return NumberFacts(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=region,
        calling_code=code,
        number_type=NUMBER_TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"),
        valid=valid,
        time_zones=zones,
        region_source=source,
    )
