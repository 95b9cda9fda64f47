"""Storage: tables, engine, migrations, partitions and retention."""
