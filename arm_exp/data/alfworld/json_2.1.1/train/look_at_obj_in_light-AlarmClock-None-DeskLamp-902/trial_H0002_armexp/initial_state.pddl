;; Hand-authored by arm-exp for tests and CPU demos; not from the ALFRED/ALFWorld
;; dataset. Room ArmExpBedroomB, task look_at_obj_in_light. Rendered from
;; arm_exp/envs/alfworld_games.py; edit the spec there, not this file.
(define (problem plan_trial_H0002_armexp)
(:domain alfred)
(:objects
    agent1 - agent
    AlarmClockType - otype
    BookType - otype
    DeskLampType - otype
    KeyChainType - otype
    LaptopType - otype
    PenType - otype
    PillowType - otype
    StatueType - otype
    VaseType - otype
    WatchType - otype
    BedType - rtype
    DeskType - rtype
    DrawerType - rtype
    DresserType - rtype
    GarbageCanType - rtype
    SafeType - rtype
    ShelfType - rtype
    SideTableType - rtype
    Pillow_bar_01 - object ; pillow 1
    Laptop_bar_01 - object ; laptop 1
    AlarmClock_bar_01 - object ; alarmclock 1
    Pen_bar_01 - object ; pen 1
    KeyChain_bar_01 - object ; keychain 1
    Vase_bar_01 - object ; vase 1
    Watch_bar_01 - object ; watch 1
    Book_bar_01 - object ; book 1
    Statue_bar_01 - object ; statue 1
    DeskLamp_bar_01 - object ; desklamp 1
    Bed_bar_01 - receptacle ; bed 1
    Desk_bar_01 - receptacle ; desk 1
    Drawer_bar_03 - receptacle ; drawer 1
    Drawer_bar_02 - receptacle ; drawer 2
    Drawer_bar_01 - receptacle ; drawer 3
    Dresser_bar_01 - receptacle ; dresser 1
    GarbageCan_bar_01 - receptacle ; garbagecan 1
    Safe_bar_01 - receptacle ; safe 1
    Shelf_bar_02 - receptacle ; shelf 1
    Shelf_bar_01 - receptacle ; shelf 2
    SideTable_bar_01 - receptacle ; sidetable 1
    loc_bar_0_bar_0_bar_0_bar_30 - location ; where the agent starts
    loc_bar_1_bar_0_bar_0_bar_30 - location ; in front of bed 1
    loc_bar_2_bar_3_bar_90_bar_30 - location ; in front of desk 1
    loc_bar_3_bar_6_bar_180_bar_30 - location ; in front of drawer 1
    loc_bar_4_bar_2_bar_270_bar_30 - location ; in front of drawer 2
    loc_bar_5_bar_5_bar_0_bar_30 - location ; in front of drawer 3
    loc_bar_6_bar_1_bar_90_bar_30 - location ; in front of dresser 1
    loc_bar_7_bar_4_bar_180_bar_30 - location ; in front of garbagecan 1
    loc_bar_8_bar_0_bar_270_bar_30 - location ; in front of safe 1
    loc_bar_9_bar_3_bar_0_bar_30 - location ; in front of shelf 1
    loc_bar_10_bar_6_bar_90_bar_30 - location ; in front of shelf 2
    loc_bar_11_bar_2_bar_180_bar_30 - location ; in front of sidetable 1
)
(:init
    (receptacleType Bed_bar_01 BedType)
    (receptacleType Desk_bar_01 DeskType)
    (receptacleType Drawer_bar_03 DrawerType)
    (receptacleType Drawer_bar_02 DrawerType)
    (receptacleType Drawer_bar_01 DrawerType)
    (receptacleType Dresser_bar_01 DresserType)
    (receptacleType GarbageCan_bar_01 GarbageCanType)
    (receptacleType Safe_bar_01 SafeType)
    (receptacleType Shelf_bar_02 ShelfType)
    (receptacleType Shelf_bar_01 ShelfType)
    (receptacleType SideTable_bar_01 SideTableType)
    (objectType Pillow_bar_01 PillowType)
    (objectType Laptop_bar_01 LaptopType)
    (objectType AlarmClock_bar_01 AlarmClockType)
    (objectType Pen_bar_01 PenType)
    (objectType KeyChain_bar_01 KeyChainType)
    (objectType Vase_bar_01 VaseType)
    (objectType Watch_bar_01 WatchType)
    (objectType Book_bar_01 BookType)
    (objectType Statue_bar_01 StatueType)
    (objectType DeskLamp_bar_01 DeskLampType)
    (canContain BedType BookType)
    (canContain BedType LaptopType)
    (canContain BedType PillowType)
    (canContain DeskType AlarmClockType)
    (canContain DeskType BookType)
    (canContain DeskType KeyChainType)
    (canContain DeskType LaptopType)
    (canContain DeskType PenType)
    (canContain DeskType StatueType)
    (canContain DeskType VaseType)
    (canContain DeskType WatchType)
    (canContain DrawerType BookType)
    (canContain DrawerType KeyChainType)
    (canContain DrawerType PenType)
    (canContain DrawerType WatchType)
    (canContain DresserType AlarmClockType)
    (canContain DresserType BookType)
    (canContain DresserType KeyChainType)
    (canContain DresserType LaptopType)
    (canContain DresserType PenType)
    (canContain DresserType StatueType)
    (canContain DresserType VaseType)
    (canContain DresserType WatchType)
    (canContain GarbageCanType PenType)
    (canContain SafeType KeyChainType)
    (canContain SafeType StatueType)
    (canContain SafeType VaseType)
    (canContain SafeType WatchType)
    (canContain ShelfType AlarmClockType)
    (canContain ShelfType BookType)
    (canContain ShelfType KeyChainType)
    (canContain ShelfType PenType)
    (canContain ShelfType StatueType)
    (canContain ShelfType VaseType)
    (canContain ShelfType WatchType)
    (canContain SideTableType AlarmClockType)
    (canContain SideTableType BookType)
    (canContain SideTableType KeyChainType)
    (canContain SideTableType LaptopType)
    (canContain SideTableType PenType)
    (canContain SideTableType StatueType)
    (canContain SideTableType VaseType)
    (canContain SideTableType WatchType)
    (pickupable Pillow_bar_01)
    (pickupable Laptop_bar_01)
    (pickupable AlarmClock_bar_01)
    (pickupable Pen_bar_01)
    (pickupable KeyChain_bar_01)
    (pickupable Vase_bar_01)
    (pickupable Watch_bar_01)
    (pickupable Book_bar_01)
    (pickupable Statue_bar_01)
    (openable Drawer_bar_03)
    (openable Drawer_bar_02)
    (openable Drawer_bar_01)
    (openable Safe_bar_01)
    (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
    (toggleable DeskLamp_bar_01)
    (inReceptacle Pillow_bar_01 Bed_bar_01)
    (inReceptacle Laptop_bar_01 Bed_bar_01)
    (inReceptacle AlarmClock_bar_01 Desk_bar_01)
    (inReceptacle Pen_bar_01 Desk_bar_01)
    (inReceptacle KeyChain_bar_01 Drawer_bar_03)
    (inReceptacle Vase_bar_01 Dresser_bar_01)
    (inReceptacle Watch_bar_01 Safe_bar_01)
    (inReceptacle Book_bar_01 Shelf_bar_02)
    (inReceptacle Statue_bar_01 Shelf_bar_01)
    (inReceptacle DeskLamp_bar_01 SideTable_bar_01)
    (receptacleAtLocation Bed_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (receptacleAtLocation Desk_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (receptacleAtLocation Drawer_bar_03 loc_bar_3_bar_6_bar_180_bar_30)
    (receptacleAtLocation Drawer_bar_02 loc_bar_4_bar_2_bar_270_bar_30)
    (receptacleAtLocation Drawer_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (receptacleAtLocation Dresser_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (receptacleAtLocation GarbageCan_bar_01 loc_bar_7_bar_4_bar_180_bar_30)
    (receptacleAtLocation Safe_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (receptacleAtLocation Shelf_bar_02 loc_bar_9_bar_3_bar_0_bar_30)
    (receptacleAtLocation Shelf_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (receptacleAtLocation SideTable_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
    (objectAtLocation Pillow_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (objectAtLocation Laptop_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (objectAtLocation AlarmClock_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (objectAtLocation Pen_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (objectAtLocation KeyChain_bar_01 loc_bar_3_bar_6_bar_180_bar_30)
    (objectAtLocation Vase_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation Watch_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (objectAtLocation Book_bar_01 loc_bar_9_bar_3_bar_0_bar_30)
    (objectAtLocation Statue_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (objectAtLocation DeskLamp_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
)
(:goal (and (exists (?t - object ?r - receptacle ?a - agent ?l - location) (and (objectType ?t DeskLampType) (toggleable ?t) (isToggled ?t) (receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?t ?r))) (exists (?o - object ?a - agent) (and (objectType ?o AlarmClockType) (holds ?a ?o)))))
)
