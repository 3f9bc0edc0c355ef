"""The shared kernel: event store on JetStream, the command shell, settings, logging, the CLI."""
