print("hwkeys")
