"""The collector's set-up for a process that runs one service, or its relay child, for its whole life."""

import gc

YOUNG_GC_THRESHOLD = 50_000  # the first generation's threshold, set once the start-up heap is frozen


def settle_heap() -> None:
    """Once start-up is done. What it made (modules, contract models, the tracing SDK and its exporter) lives as long
    as the process: moved out of the collector's reach, so each full collection walks only what handling records
    makes. And a batch makes and drops hundreds of thousands of short-lived objects (records, rows, events), nearly
    all freed by their reference counts: the youngest generation is walked every YOUNG_GC_THRESHOLD allocations
    instead of Python's 700 (bench/README.md, issue 12's seventh pass; the relay child since issue 14's eleventh
    measurement, where its collections were a tenth of its work when tracing had loaded the SDK)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
