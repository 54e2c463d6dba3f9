"""Protocol adapters: each owns one wire format (argv, stdin, stdout) and nothing else."""
