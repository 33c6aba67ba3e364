"""The chaos suite (issue 18): real bot processes on a real PostgreSQL, under the faults a cluster meets."""
