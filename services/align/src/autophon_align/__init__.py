"""AutoPhon."""
