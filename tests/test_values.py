from rundiff.normalise.registry import load_registry
from rundiff.normalise.values import coerce, to_resolution, values_equal


def param(name):
    found = load_registry().get(name)
    assert found is not None, name
    return found


def test_numbers_written_differently_are_equal():
    assert coerce(param("learning_rate"), "1e-4") == coerce(param("learning_rate"), 0.0001)
    assert coerce(param("learning_rate"), "0.0001") == 0.0001
    assert values_equal(coerce(param("network_alpha"), "16.0"), coerce(param("network_alpha"), 16))


def test_bool_strings_and_none():
    assert coerce(param("shuffle_caption"), "True") is True
    assert coerce(param("shuffle_caption"), "false") is False
    assert coerce(param("network_dim"), "None") is None


def test_resolution_forms():
    assert to_resolution("512,512") == [512, 512]
    assert to_resolution("(1024, 768)") == [1024, 768]
    assert to_resolution(512) == [512, 512]
    assert to_resolution("768") == [768, 768]
    assert to_resolution([640, 512]) == [640, 512]


def test_optimizer_names_case_insensitive_and_dotted():
    optimizer = param("optimizer_type")
    assert coerce(optimizer, "adamw8bit") == "AdamW8bit"
    assert coerce(optimizer, "bitsandbytes.optim.adamw.AdamW8bit") == "AdamW8bit"
    assert coerce(optimizer, "prodigyopt.prodigy.Prodigy") == "Prodigy"
    assert coerce(optimizer, "torch.optim.adamw.AdamW(weight_decay=0.01,betas=(0.9, 0.999))") == "AdamW"


def test_warmup_keeps_steps_apart_from_ratios():
    warmup = param("lr_warmup_steps")
    assert coerce(warmup, "500") == 500 and isinstance(coerce(warmup, "500"), int)
    assert coerce(warmup, "0.1") == 0.1


def test_single_value_lists_collapse_for_scalar_parameters():
    assert coerce(param("text_encoder_lr"), ["5e-5"]) == 5e-05
    assert coerce(param("text_encoder_lr"), "[0.0001]") == 0.0001
