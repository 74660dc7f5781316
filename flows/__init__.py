"""The processes, as Prefect flows. Importing any of them masks customers' emails in every log
record of the process (domain/privacy.py): flow runs log their tasks' failures, whose messages
can carry an address."""

from domain.privacy import install_log_masking

install_log_masking()
