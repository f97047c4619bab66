"""citycse: a lightweight oneM2M CSE for a city's chargers, alarms and grid feeds."""

__version__ = "0.1.0"
