//! `ecrscan`: continuous vulnerability scanning of Amazon ECR images, from a
//! terminal, a cron job or a CI pipeline.

mod cli;
mod commands;
mod configs;
mod context;
mod failure;
mod output;
mod suppress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let style = output::Style::detect();
    output::init_logging(args.verbose, style);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return output::report(&failure::Failure::Operation(format!("cannot start: {err}")));
        }
    };
    match runtime.block_on(commands::run(args, style)) {
        Ok(code) => code,
        Err(failure) => output::report(&failure),
    }
}
