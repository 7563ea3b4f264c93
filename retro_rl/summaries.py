"""TensorBoard conventions every run shares: tags grouped by prefix (`charts/`, `losses/`,
`metrics/`, `actions/`), and the run's settings written once as a text table."""

import tensorflow as tf


def write_settings(settings, step=0):
    """Writes {setting: value} as a markdown table under the tag 'settings' to the default
    summary writer."""
    table = "| setting | value |\n|---|---|\n" + "\n".join(
        f"| {name} | {value} |" for name, value in settings.items())
    tf.summary.text("settings", table, step=step)
