defmodule Extask.CommandTest do
  use ExUnit.Case, async: true

  test "the behaviour: name, summary, flags and run, plus the optional notes" do
    assert Enum.sort(Extask.Command.behaviour_info(:callbacks)) ==
             [flags: 0, name: 0, notes: 0, run: 2, summary: 0]

    assert Extask.Command.behaviour_info(:optional_callbacks) == [notes: 0]
  end

  test "every command provides the callbacks, and any notes it has are text" do
    for command <- Extask.Commands.all() do
      Code.ensure_loaded!(command)

      for {name, arity} <- [name: 0, summary: 0, flags: 0, run: 2] do
        assert function_exported?(command, name, arity), "#{inspect(command)}.#{name}/#{arity}"
      end

      assert command.name() =~ ~r/\A[a-z][a-z0-9-]*\z/
      assert Enum.all?(command.flags(), &is_struct(&1, Extask.Flag))

      if function_exported?(command, :notes, 0) do
        assert String.trim(command.notes()) != "", inspect(command)
      end
    end
  end
end
