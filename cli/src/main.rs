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
    Build(commands::build::BuildArgs),
    Boards(commands::boards::BoardsArgs),
    Report(commands::report::ReportArgs),
    Compile(commands::compile::CompileArgs),
    Eval(commands::eval::EvalArgs),
    Suite(commands::suite::SuiteArgs),
    Encoders(commands::encoders::EncodersArgs),
    Board(commands::board::BoardArgs),
    Ident(commands::ident::IdentArgs),
    Load(commands::load::LoadArgs),
    Run(commands::run::RunArgs),
    Status(commands::status::StatusArgs),
}

/// Device commands fail with a [`lutgen::CommandError`]; shown the same way.
fn device_result(result: Result<bool, lutgen::CommandError>) -> Result<bool, lutgen::Error> {
    result.map_err(|e| lutgen::Error::Usage(e.to_string()))
}

/// Board commands fail with a [`lutgen_board::BoardError`]; shown the same way.
fn board_result(result: Result<(), lutgen_board::BoardError>) -> Result<bool, lutgen::Error> {
    result
        .map(|()| true)
        .map_err(|e| lutgen::Error::Usage(e.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Generate(args) => commands::generate::run(args).map(|()| true),
        Command::Image(args) => commands::image::run(args).map(|()| true),
        Command::Sim(args) => match &args.network {
            Some(path) => commands::sim_network::run(args, path),
            None => commands::sim::run(args),
        },
        Command::Build(args) => board_result(commands::build::run(args)),
        Command::Boards(args) => board_result(commands::boards::run(args)),
        Command::Report(args) => board_result(commands::report::run(args)),
        Command::Compile(args) => commands::compile::run(args).map(|()| true),
        Command::Eval(args) => match &args.network {
            Some(path) => commands::eval_network::run(args, path),
            None => commands::eval::run(args),
        },
        Command::Suite(args) => commands::suite::run(args),
        Command::Encoders(args) => commands::encoders::run(args),
        Command::Board(args) => device_result(commands::board::run(args)),
        Command::Ident(args) => device_result(commands::ident::run(args)),
        Command::Load(args) => device_result(commands::load::run(args)),
        Command::Run(args) => device_result(commands::run::run(args)),
        Command::Status(args) => device_result(commands::status::run(args)),
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
