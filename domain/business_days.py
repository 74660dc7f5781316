"""Business days and local dates, with the clock always passed in (never `now()` here).

Public holidays come from the `holidays` package (France by default). Used for the store's
refund promise in business days (F4) and, in the returns process, for D1-D2 maths.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=16)
def _holidays(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=[year])


def is_business_day(day: date, country: str = "FR") -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def next_business_day(day: date, country: str = "FR") -> date:
    """`day` itself if it is a business day, else the next one (L221-19 carry-over)."""
    while not is_business_day(day, country):
        day += timedelta(days=1)
    return day


def add_business_days(start: date, days: int, country: str = "FR") -> date:
    """The date `days` business days after `start` (start itself not counted)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current, country):
            remaining -= 1
    return current


def local_date(moment: datetime, tz: str) -> date:
    """The calendar date of an aware instant in the store's timezone (23:30 Paris = same day)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(ZoneInfo(tz)).date()


def end_of_day(day: date, tz: str) -> datetime:
    """24:00 local time of `day`, as an aware UTC instant (deadlines end at end of day)."""
    local_midnight = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=ZoneInfo(tz))
    return local_midnight.astimezone(UTC)


def last_local_day(due_at: datetime, tz: str) -> date:
    """The last day a deadline ending at 24:00 local (`end_of_day`) still allows: 24:00 is 00:00
    of the next day, so the instant just before it is read."""
    return local_date(due_at - timedelta(microseconds=1), tz)
