# Tests tagged :release build and run the real release (test/release_test.exs); skip them
# with `mix test --exclude release` for a quicker loop.
ExUnit.start()
