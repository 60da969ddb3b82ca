//! `lutgen`: generate lookup-table inference engines, make table images, and
//! check the Verilated engine bit for bit against the software reference.

use clap::{Parser, Subcommand};
use lutgen::commands;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "lutgen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Generate(commands::generate::GenerateArgs),
    Image(commands::image::ImageArgs),
    Sim(commands::sim::SimArgs),
    Compile(commands::compile::CompileArgs),
    Eval(commands::eval::EvalArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Generate(args) => commands::generate::run(args).map(|()| true),
        Command::Image(args) => commands::image::run(args).map(|()| true),
        Command::Sim(args) => commands::sim::run(args),
        Command::Compile(args) => commands::compile::run(args).map(|()| true),
        Command::Eval(args) => commands::eval::run(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: the engine disagrees with the reference (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
