defmodule Extask.CommandsTest do
  use ExUnit.Case, async: true
  doctest Extask.Commands

  test "every registered command implements Extask.Command with a unique name" do
    commands = Extask.Commands.all()

    for command <- commands do
      behaviours = command.module_info(:attributes) |> Keyword.get_values(:behaviour)
      assert [Extask.Command] in behaviours, inspect(command)
      assert command.summary() =~ ~r/^[A-Z].*\.$/
    end

    names = Enum.map(commands, & &1.name())
    assert names == Enum.uniq(names)
  end

  test "no command flag shadows a common flag" do
    common = Enum.map(Extask.Config.common_flags(), & &1.name)

    for command <- Extask.Commands.all(), flag <- command.flags() do
      refute flag.name in common, "#{command.name()} redeclares --#{flag.name}"
    end
  end
end
