"""One bounded context per folder: a pure decider and a thin FastStream app."""
