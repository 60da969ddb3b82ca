//! How commands print: one JSON object, or progress bars on stderr.

/// Prints `value` as one JSON object on stdout.
pub fn print_json<S: serde::Serialize>(value: &S) {
    println!(
        "{}",
        serde_json::to_string(value).expect("reports serialize")
    );
}

/// A progress bar on stderr, or a hidden one (with `--json`, or off a terminal).
pub fn progress_bar(total: usize, what: &str, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .expect("template is valid")
        .progress_chars("=> "),
    );
    bar
}

/// A bar for a long task with a message (compile, eval, encoders): elapsed time, steps, what is running.
pub fn task_bar(hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}
