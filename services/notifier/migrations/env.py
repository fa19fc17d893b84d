from services.notifier.repository import metadata
from shared.migrations import run_env

run_env(metadata)
