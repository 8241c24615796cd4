"""Lab 11's own tests: its checkers accept the solutions and name the typical mistakes."""

import matplotlib

from ftlab import labs

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_accumulation_exercise():
    assert lab.check_accumulation_for(solution.accumulation_for)
    forgot_processes = lab.check_accumulation_for(lambda target, per_device, processes: target // per_device)
    assert not forgot_processes and "you left out the processes" in forgot_processes.message
    as_float = lab.check_accumulation_for(lambda target, per_device, processes: target / per_device / processes)
    assert not as_float and "whole number" in as_float.message
    no_error = lab.check_accumulation_for(lambda target, per_device, processes: target // (per_device * processes))
    assert not no_error and "raise ValueError" in no_error.message

def test_two_machines_exercise():
    solved = solution.two_machines_config(4)
    assert lab.check_two_machine_config(solved, gpus_per_machine=4)
    one_machines_worth = lab.check_two_machine_config(solved | {"num_processes": 4}, gpus_per_machine=4)
    assert not one_machines_worth and "all processes over all machines" in one_machines_worth.message
    no_ip = lab.check_two_machine_config(solved | {"main_process_ip": None}, gpus_per_machine=4)
    assert not no_ip and "main_process_ip" in no_ip.message
    assert "as a dict" in lab.check_two_machine_config([], gpus_per_machine=4).message
