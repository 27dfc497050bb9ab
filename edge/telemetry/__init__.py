"""Board telemetry: parsers (text -> numbers), sources (read the real files and commands,
detected at start), and exporters (JSON lines, Prometheus textfile, live view)."""
