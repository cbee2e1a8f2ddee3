"""A pymodbus TCP server for scripts/bench-edge.sh: holding registers 0-199 change every second
(each register holds its address plus the second's count), so every poll of them is a change.
The changes are written by a pymodbus client of the server itself, as a PLC program would change them."""
import asyncio
import sys

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartAsyncTcpServer

REGISTERS = 200


async def change(port):
    await asyncio.sleep(0.5)
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    tick = 0
    while True:
        tick += 1
        values = [(address + tick) % 65536 for address in range(REGISTERS)]
        for start in range(0, REGISTERS, 100):  # 123 registers at most per write
            await client.write_registers(start, values[start:start + 100])
        await asyncio.sleep(1)


async def main(port):
    block = ModbusSequentialDataBlock(1, [0] * REGISTERS)  # pymodbus counts blocks from 1: protocol address 0
    context = ModbusServerContext(devices=ModbusDeviceContext(hr=block), single=True)
    asyncio.get_running_loop().create_task(change(port))
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", port))


asyncio.run(main(int(sys.argv[1])))
