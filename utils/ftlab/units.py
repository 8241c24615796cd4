"""Units of memory, defined once: the course reports sizes in binary units (MiB = 2**20 bytes, GiB = 2**30 bytes).
An exercise that asks for decimal GB (10**9 bytes) says so."""

MIB = 2**20
GIB = 2**30
