"""Protocol <-> primitive translation: HTTP, MQTT, SSE. No storage, no resource rules."""
