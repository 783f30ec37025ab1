"""Labels (taskpods.labels): values within Kubernetes' limits, distinct ids kept distinct."""

from __future__ import annotations

from taskpods.labels import label_value


def test_label_values_stay_within_kubernetes_limits() -> None:
    long_id = "ingest_" + "very_long_provider_name_" * 4
    value = label_value(long_id)
    assert len(value) == 63
    assert value != label_value(long_id + "x")  # distinct ids keep distinct labels
    assert value[0].isalnum()
    assert value[-1].isalnum()
