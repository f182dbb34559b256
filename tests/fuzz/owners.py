"""Who owns which reproducer this session, and which are still expected to fail on main.

Kept beside the cases so a failing replay names the area to look in. `NOT_YET_FIXED` lists the
cases that failed when this branch last replayed them against main; the replay test marks them
xfail (not strict), so a fix elsewhere turns them into passes without editing this file, and
the list should shrink to nothing.
"""

from __future__ import annotations

OWNERS: dict[str, str] = {}
for _owner, _names in {
    "values (normalise/values.py)": "C01 C02 C03 C04 C05 C06 C07 C08 C09 C10 C11 C12 C13 C14 C15 C16 C17 C17b "
                                    "C18 C42 C43 C44 C49 C50 C57 C58 H06",
    "scripts (ingest/shell_*)": "H01 H02 H03 H04 C23 C24 C25 M03 M04 M06",
    "diagnose (ingest/logs, diagnose/)": "C31 C32 C33 C34 C35 C36 H05 H07 H12 H13 M02 F02 F03 F04",
    "ablate (ablate/)": "A01 A02 A03 A04 A05 A06 A07",
    "reports (report/, cli/)": "C19 D01 D02 F05 F06 F07 H14 I01 I02 I03 I04 I05 X01 X02 X03",
    "infer (infer/, ingest/safetensors_file.py)": "C26 C27 C28 C29 C30 C40 C41 C54 C55 C56 I06 M05 X04",
    "fuzz (ingest/filesystem.py, ingest/bounded.py)": "C20 C21 C22 C37 C38 C39 C45 C46 C47 C48 C51 C52 C53 "
                                                      "F01 F08 H08 H09 H10 H11 H15 M01",
}.items():
    for _prefix in _names.split():
        OWNERS[_prefix] = _owner


def owner(case: str) -> str:
    return OWNERS.get(case.split("_", 1)[0], "unassigned")


#: Failing on main when last replayed (see the module docstring): 2026-11-30 06:40 UTC.
NOT_YET_FIXED: frozenset[str] = frozenset({
    "A01_values_argument_smuggling",
    "A02_like_file_argument_smuggling",
    "A03_env_passthrough_ld_preload",
    "A04_like_nul_value_crash",
    "A05_base_value_none_passed_as_string",
    "A06_relative_base_relative_paths",
    "A07_control_char_run_name_breaks_builtin",
    "C01_nan_value_indexerror",
    "C02_percent_value_valueerror",
    "C03_nonnumeric_alpha_diagnose",
    "C04_float_num_cycles",
    "C05_string_scheduler_power",
    "C06_string_warmup_epochs",
    "C07_steps_per_epoch_half_zerodiv",
    "C08_batch_inf_overflow",
    "C09_repeats_inf_overflow",
    "C10_warmup_ratio_huge_total",
    "C11_warmup_epochs_huge",
    "C12_huge_int_warmup_4400_digits",
    "C13_huge_int_vs_float_isclose",
    "C14_max_epochs_1e308_diagnose",
    "C15_network_dim_inf_rule",
    "C16_num_cycles_inf",
    "C17_string_image_count_dataset_rule",
    "C17b_string_network_dim_dataset_rule",
    "C18_string_ema_decay",
    "C19_conflict_md_html_report",
    "C26_st_huge_shape_overflow",
    "C27_st_meta_dataset_dirs_bad_repeats",
    "C28_st_meta_dataset_dirs_infinity",
    "C29_st_meta_datasets_img_count",
    "C30_st_meta_datasets_deep_json",
    "C31_log_epoch_5000_digits",
    "C32_log_epoch_400_digits_overflow",
    "C33_log_fact_num_images_huge",
    "C34_csv_step_inf",
    "C35_log_group_mathtext_plot",
    "C36_run_name_mathtext_plot",
    "C40_size_400_digit_GB",
    "C41_size_5000_digit_bytes",
    "C42_subnormal_unet_lr_format_none",
    "C43_string_sample_every_n_steps_ema",
    "C44_string_repeats_rule",
    "C49_toml_time_value_in_numeric_param",
    "C54_dynamic_rank_lora_diagnose",
    "C55_peft_adapter_config_huge_alpha",
    "C56_meta_network_dim_huge_int",
    "C57_polynomial_lr_zero_division",
    "C58_polynomial_negative_power",
    "F02_unreadable_log_no_dac",
    "F03_unreadable_txt_no_dac",
    "F04_unreadable_csv_no_dac",
    "F05_nonutf8_name_report_write",
    "F06_nonutf8_name_diagnose_html",
    "H05_log_regex_quadratic",
    "H06_subnormal_lr_zero_loop",
    "H12_sparse_10G_log",
    "H13_sparse_10G_txt_read_as_log",
    "H14_terminal_rich_highlighter_slow",
    "I01_csv_formula_injection",
    "I02_terminal_ansi_from_config",
    "I03_markdown_raw_html_diagnose",
    "I04_markdown_raw_html_compare_heading",
    "I05_ansi_in_diagnose_text_from_dirname",
    "I06_infer_rank_ansi_from_metadata",
    "M02_sparse_10G_csv_read_whole",
    "M05_st_1M_metadata_keys",
    "M06_script_440k_unknown_args",
})
