"""The shared core of AutoPhon: config, database and task queue, storage layout, metrics,
logging. Used by both services; imports nothing from them."""
