"""Calendar dates as GitLab writes them (``YYYY-MM-DD``, UTC), without ``datetime``.

``datetime`` would cost the ``get`` hot path an import; a test checks these against it
across centuries.
"""

from __future__ import annotations


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).

    Used instead of ``datetime`` so the hot path stays import-free; a test checks it against
    ``datetime`` across centuries.
    """
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def date_from_days(days: int) -> str:
    """Inverse of ``days_from_civil``: days since 1970-01-01 -> ``"YYYY-MM-DD"``."""
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524
                   - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = year_of_era + era * 400 + (month <= 2)
    return "%04d-%02d-%02d" % (year, month, day)


def parse_date(text: object) -> tuple[int, int, int]:
    """``"2026-12-01"`` -> (2026, 12, 1); ValueError when it is not a real YYYY-MM-DD date."""
    parts = text.split("-") if isinstance(text, str) else ()
    if len(parts) != 3 or [len(p) for p in parts] != [4, 2, 2] or not all(p.isdigit()
                                                                          for p in parts):
        raise ValueError("not a YYYY-MM-DD date: %r" % (text,))
    year, month, day = (int(p) for p in parts)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not 1 <= month <= 12 or not 1 <= day <= month_days[month - 1]:
        raise ValueError("not a real date: %r" % (text,))
    return year, month, day
