"""The house: the entrypoints and operations around the kernel and the contexts.

The `crew` CLI, `crew up` (the house runner), the demo, backups, deploy files, the NATS users
and their permissions, and reading the log for export. Nothing below imports from here."""
