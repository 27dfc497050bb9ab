"""The real-time loop: per-hop deadline, bypass on overrun or kernel failure, RT hygiene."""
