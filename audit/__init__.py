"""The record an auditor relies on: Temporal histories read on the client side (timeline, export),
the hash-chained archive of closed histories and the hash-chained access log."""
