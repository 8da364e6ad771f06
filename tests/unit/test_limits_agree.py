"""The checks at activity 10 and the publishers at activity 14 must agree on what each channel takes:
a design the checks accept must not be refused at publication, nor the reverse."""

import importlib

import pytest

from cvp.checks.media import CHANNEL_MEDIA


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram"])
def test_image_limits_agree(channel):
    pub = importlib.import_module(f"cvp.publishers.{channel}")
    limits = CHANNEL_MEDIA[channel].images
    assert set(pub.IMAGE_TYPES) == set(limits.formats)
    assert pub.IMAGE_MAX_BYTES == limits.max_size


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram", "youtube"])
def test_video_limits_agree(channel):
    pub = importlib.import_module(f"cvp.publishers.{channel}")
    limits = CHANNEL_MEDIA[channel].videos
    if hasattr(pub, "VIDEO_TYPES"):
        assert set(pub.VIDEO_TYPES) == set(limits.formats)
    assert pub.VIDEO_MAX_BYTES == limits.max_size
