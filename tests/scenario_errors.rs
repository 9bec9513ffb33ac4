//! Each kind of scenario error and its message: the file, the field path, the value and
//! what is allowed must all be named.

mod common;
use common::*;
use tokenrisk::scenario;

fn problems(text: &str) -> String {
    match scenario::parse(text, "bad.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn base_scenario_is_valid() {
    parse(GBM_BASE);
}

/// `msg` names the line of `text` that starts with `start`.
fn assert_names_line(msg: &str, text: &str, start: &str) {
    let line = text.lines().position(|l| l.starts_with(start)).unwrap() + 1;
    assert!(
        msg.contains(&format!("bad.toml:{line}")),
        "line {line} not named: {msg}"
    );
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = GBM_BASE.replace("volatility = 0.80", "volatility = 0.80\nvolatilty = 0.3");
    let msg = problems(&text);
    assert!(msg.contains("bad.toml"), "{msg}");
    assert!(msg.contains("volatilty"), "{msg}");
    assert_names_line(&msg, &text, "volatilty");
}

#[test]
fn wrong_type_is_named() {
    let msg = problems(&GBM_BASE.replace("horizon_days = 365", "horizon_days = \"a year\""));
    assert!(
        msg.contains(
            "scenario.horizon_days: value \"a year\" is a string; allowed: a whole number"
        ),
        "{msg}"
    );
    assert!(msg.contains("bad.toml:"), "{msg}");
}

#[test]
fn out_of_range_names_field_value_and_range() {
    let msg = problems(&GBM_BASE.replace("volatility = 0.80", "volatility = -0.5"));
    assert!(msg.contains("market.volatility"), "{msg}");
    assert!(msg.contains("-0.5"), "{msg}");
    assert!(msg.contains("allowed: 0 to 10"), "{msg}");
    assert_names_line(&msg, GBM_BASE, "volatility = 0.80");
}

#[test]
fn nan_is_rejected() {
    let msg = problems(&GBM_BASE.replace("price = 10.0", "price = nan"));
    assert!(msg.contains("token.price") && msg.contains("NaN"), "{msg}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = GBM_BASE
        .replace("volatility = 0.80", "volatility = -0.5")
        .replace("usd_per_day = 1000.0", "usd_per_day = 0.0");
    let msg = problems(&text);
    assert!(msg.contains("2 problems"), "{msg}");
    assert!(
        msg.contains("demand.usd_per_day") && msg.contains("market.volatility"),
        "{msg}"
    );
}

#[test]
fn missing_required_section_is_named() {
    let text = GBM_BASE.replace("[demand]\nusd_per_day = 1000.0\n", "");
    let msg = problems(&text);
    assert!(msg.contains("demand"), "{msg}");
}

#[test]
fn kind_specific_fields_are_required_and_unused_ones_rejected() {
    let msg = problems(&GBM_BASE.replace(
        "kind = \"none\"",
        "kind = \"halving_by_time\"\nper_day = 10.0",
    ));
    assert!(
        msg.contains("emission.period_days") && msg.contains("missing"),
        "{msg}"
    );
    let msg = problems(&GBM_BASE.replace("kind = \"none\"", "kind = \"none\"\nannual_rate = 0.1"));
    assert!(
        msg.contains("emission.annual_rate") && msg.contains("not used"),
        "{msg}"
    );
    let msg = problems(&GBM_BASE.replace(
        "kind = \"none\"",
        "kind = \"halving_by_supply\"\nper_day = 10.0",
    ));
    assert!(msg.contains("token.max_supply"), "{msg}");
}

#[test]
fn unknown_enum_value_lists_the_allowed_ones() {
    let msg = problems(&GBM_BASE.replace("kind = \"none\"", "kind = \"halvening\""));
    assert!(
        msg.contains("halvening") && msg.contains("halving_by_supply"),
        "{msg}"
    );
}

#[test]
fn split_must_sum_to_one() {
    let msg = problems(&GBM_BASE.replace(
        "kind = \"none\"",
        "kind = \"none\"\nsplit = { providers = 0.5, stakers = 0.3, treasury = 0.1 }",
    ));
    assert!(
        msg.contains("emission.split") && msg.contains("sum to 0.9"),
        "{msg}"
    );
}

#[test]
fn correlation_must_be_positive_definite() {
    let text = format!(
        "{GBM_BASE}\n[correlation]\nprice_demand = 0.9\nprice_cost = 0.9\ndemand_cost = -0.9\n"
    );
    let msg = problems(&text);
    assert!(msg.contains("positive definite"), "{msg}");
}

#[test]
fn horizon_must_be_whole_steps_and_shocks_inside_it() {
    let msg = problems(&set(GBM_BASE, "scenario.step_days", "7"));
    assert!(
        msg.contains("scenario.horizon_days") && msg.contains("whole number of steps"),
        "{msg}"
    );
    let msg = problems(&format!("{GBM_BASE}\n[[shock]]\nday = 400\nprice = -0.5\n"));
    assert!(msg.contains("shock[0].day") && msg.contains("400"), "{msg}");
    let msg = problems(&format!("{GBM_BASE}\n[[shock]]\nday = 10\nprice = -1.5\n"));
    assert!(
        msg.contains("shock[0].price") && msg.contains("-1.5"),
        "{msg}"
    );
}

#[test]
fn vesting_cannot_exceed_max_supply() {
    let text = GBM_BASE.replace(
        "issued = 1000000.0",
        "issued = 1000000.0\nmax_supply = 1500000.0",
    );
    let text = format!("{text}\n[[vesting]]\nname = \"team\"\namount = 600000.0\ncliff_days = 10\nlinear_days = 100\n");
    let msg = problems(&text);
    assert!(
        msg.contains("vesting") && msg.contains("exceed token.max_supply"),
        "{msg}"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = scenario::load(std::path::Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/x.toml") && err.to_string().contains("cannot read")
    );
}

#[test]
fn bad_sell_fraction_string_is_rejected() {
    let msg = problems(&GBM_BASE.replace(
        "cost_per_unit_day = 1.0",
        "cost_per_unit_day = 1.0\nsell_fraction = \"costs\"",
    ));
    assert!(
        msg.contains("sell_fraction") || msg.contains("did not match"),
        "{msg}"
    );
}

#[test]
fn explosive_price_usage_feedback_is_rejected() {
    let text = GBM_BASE
        .replace("revenue_beta = 0.0", "revenue_beta = 1.5")
        .replace(
            "usd_per_day = 1000.0",
            "usd_per_day = 1000.0\nprice_elasticity = 2.0",
        );
    let text = format!("{text}\n[payment]\nquoted_in = \"token\"\n");
    let msg = problems(&text);
    assert!(
        msg.contains("market.revenue_beta") && msg.contains("-1.500"),
        "{msg}"
    );
    // The same figures with USD-quoted jobs have no such loop and are accepted.
    parse(&text.replace("quoted_in = \"token\"", "quoted_in = \"usd\""));
}

/// Issue 12, finding 4: the README says the split defaults to all-to-providers, yet a split
/// written with only providers and stakers failed with "missing field treasury". A share left
/// out is 0; the sum is still checked.
#[test]
fn issue12_finding_04_split_shares_left_out_are_zero() {
    let s = parse(&set(
        GBM_BASE,
        "emission.split",
        "{ providers = 0.7, stakers = 0.3 }",
    ));
    let split = &s.emission.split;
    assert_eq!(
        (split.providers, split.stakers, split.treasury),
        (0.7, 0.3, 0.0)
    );
    let msg = problems(&set(GBM_BASE, "emission.split", "{ stakers = 0.3 }"));
    assert!(msg.contains("emission.split: shares sum to 0.3"), "{msg}");
}
