"""What credhelper keeps on this machine's disk: where (paths), how (private atomic files and
locks), the hand-edited config, the token index (metadata, never secrets) and the audit log."""
