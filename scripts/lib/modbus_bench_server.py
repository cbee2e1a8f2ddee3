"""A pymodbus TCP server for scripts/bench-edge.sh (and the gateway's zero-loss test): holding
registers 0-199 change every PERIOD seconds (1 by default; each register holds its address plus the
tick's count), so every poll of them after a tick is a change. The changes are written by a pymodbus
client of the server itself, as a PLC program would change them. SIGUSR1 pauses and resumes the
ticks (the registers keep their values meanwhile).

usage: modbus_bench_server.py PORT [PERIOD]"""
import asyncio
import signal
import sys

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartAsyncTcpServer

REGISTERS = 200


async def change(port, period):
    await asyncio.sleep(0.5)
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    paused = [False]
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda: paused.__setitem__(0, not paused[0]))
    tick = 0
    while True:
        if paused[0]:
            await asyncio.sleep(0.05)
            continue
        tick += 1
        values = [(address + tick) % 65536 for address in range(REGISTERS)]
        for start in range(0, REGISTERS, 100):  # 123 registers at most per write
            await client.write_registers(start, values[start:start + 100])
        await asyncio.sleep(period)


async def main(port, period):
    block = ModbusSequentialDataBlock(1, [0] * REGISTERS)  # pymodbus counts blocks from 1: protocol address 0
    context = ModbusServerContext(devices=ModbusDeviceContext(hr=block), single=True)
    asyncio.get_running_loop().create_task(change(port, period))
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", port))


asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 1.0))
