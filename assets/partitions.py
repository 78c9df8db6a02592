"""GDC data releases as dynamic partitions: a new `data_release` on `/status` adds one (`45.0`)."""

from dagster import DynamicPartitionsDefinition

gdc_releases = DynamicPartitionsDefinition(name="gdc_releases")
